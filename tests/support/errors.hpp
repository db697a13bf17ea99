#pragma once
// error_of<E>(f): the message of the E that f throws; a test failure if f throws something else
// or nothing.
#include <catch2/catch.hpp>
#include <exception>
#include <string>

namespace gradattr::testing {

template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("wrong exception type: " << e.what());
  }
  FAIL("no exception");
  return {};
}

}  // namespace gradattr::testing
