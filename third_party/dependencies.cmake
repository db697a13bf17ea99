# How gradattr finds each dependency. Debian packages first (scripts/install-deps.sh);
# a FetchContent fallback for users elsewhere, opt-in with GRADATTR_FETCH_MISSING=ON
# (never used in CI: the machines here have no network beyond Debian's registry).
include_guard(GLOBAL)
include(CMakeFindDependencyMacro)

option(GRADATTR_FETCH_MISSING "Fetch dependencies that find_package cannot find" OFF)

macro(_gradattr_fetch name repo tag)
  include(FetchContent)
  FetchContent_Declare(${name} GIT_REPOSITORY ${repo} GIT_TAG ${tag} GIT_SHALLOW TRUE)
  FetchContent_MakeAvailable(${name})
endmacro()

# Dependencies of the header-only library itself (also used by gradattrConfig.cmake).
macro(gradattr_find_library_dependencies)
  find_package(OpenMP REQUIRED COMPONENTS CXX)
  find_package(Eigen3 3.4 QUIET NO_MODULE)
  if(NOT TARGET Eigen3::Eigen)
    if(GRADATTR_FETCH_MISSING)
      _gradattr_fetch(eigen https://gitlab.com/libeigen/eigen.git 3.4.0)
    else()
      message(FATAL_ERROR "gradattr: Eigen 3.4 not found (Debian: apt-get install libeigen3-dev, or -DGRADATTR_FETCH_MISSING=ON)")
    endif()
  endif()
  find_package(xsimd 8 QUIET)
  # Debian 12's xsimd 8.1 target links a target "xtl" its package does not depend on; xsimd
  # only uses xtl for XSIMD_ENABLE_XTL_COMPLEX, which gradattr never sets. Use xtl if it is
  # installed, else stand in an empty target so the link line does not ask for -lxtl.
  if(TARGET xsimd AND NOT TARGET xtl)
    find_package(xtl QUIET)
    if(NOT TARGET xtl)
      add_library(xtl INTERFACE IMPORTED GLOBAL)
    endif()
  endif()
  if(NOT TARGET xsimd)
    if(GRADATTR_FETCH_MISSING)
      _gradattr_fetch(xsimd https://github.com/xtensor-stack/xsimd.git 8.1.0)
    else()
      message(FATAL_ERROR "gradattr: xsimd 8 not found (Debian: apt-get install libxsimd-dev, or -DGRADATTR_FETCH_MISSING=ON)")
    endif()
  endif()
  find_package(nlohmann_json 3.10 QUIET)
  if(NOT TARGET nlohmann_json::nlohmann_json)
    if(GRADATTR_FETCH_MISSING)
      _gradattr_fetch(nlohmann_json https://github.com/nlohmann/json.git v3.11.2)
    else()
      message(FATAL_ERROR "gradattr: nlohmann-json not found (Debian: apt-get install nlohmann-json3-dev, or -DGRADATTR_FETCH_MISSING=ON)")
    endif()
  endif()
  # zlib: io/idx.hpp reads gzip-compressed IDX files (Debian's dataset-fashion-mnist).
  find_package(ZLIB REQUIRED)
  # stb ships no CMake config: find its headers (Debian puts them in /usr/include/stb) and
  # describe them as an imported target, here and in every consumer (gradattrConfig.cmake).
  if(NOT TARGET gradattr::stb)
    find_path(GRADATTR_STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
    if(NOT GRADATTR_STB_INCLUDE_DIR)
      message(FATAL_ERROR "gradattr: stb_image.h not found (Debian: apt-get install libstb-dev, or set GRADATTR_STB_INCLUDE_DIR)")
    endif()
    add_library(gradattr::stb INTERFACE IMPORTED GLOBAL)
    set_target_properties(gradattr::stb PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${GRADATTR_STB_INCLUDE_DIR}")
  endif()
endmacro()

# Dependencies of gradattr's own programs (tests, CLI, benchmarks), never of the library.
macro(gradattr_find_program_dependencies)
  find_package(Catch2 2.13 QUIET)
  if(NOT TARGET Catch2::Catch2 AND GRADATTR_FETCH_MISSING)
    _gradattr_fetch(Catch2 https://github.com/catchorg/Catch2.git v2.13.10)
  endif()
  find_package(CLI11 QUIET)
  if(NOT TARGET CLI11::CLI11 AND GRADATTR_FETCH_MISSING)
    _gradattr_fetch(cli11 https://github.com/CLIUtils/CLI11.git v2.1.2)
  endif()
endmacro()
