#pragma once
// The one exception hierarchy of gradattr. Thrown at API boundaries, always before any
// OpenMP region (an exception must never cross one). Kernels are noexcept.
#include <stdexcept>
#include <string>

namespace gradattr {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Tensor shapes that do not fit an operation; the message names the op and the shapes.
struct ShapeError : Error {
  using Error::Error;
};
// A file cannot be opened, read or written; the message names the file.
struct IoError : Error {
  using Error::Error;
};
// A file's content breaks its format; the message names the file, the field and the rule.
struct FormatError : Error {
  using Error::Error;
};
// A caller passed a bad value (class out of range, zero steps, unknown layer, NaN input...).
struct ArgumentError : Error {
  using Error::Error;
};

}  // namespace gradattr
