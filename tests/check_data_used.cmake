# Every file under tests/data must be read by a test (issue 12: fixtures committed and never
# compared). Run by ctest (tests/CMakeLists.txt) in two modes:
#   -DMODE=reset -DLOG_DIR=<dir>   empties the log before the suite (ctest fixture setup);
#   -DMODE=check -DLOG_DIR=<dir> -DDATA_DIR=<tests/data> -DSOURCE_DIR=<repo>
#                                  after every test of the suite: each file under DATA_DIR must be
#                                  in a log written by testing::data_file() (tests/support/
#                                  data_files.hpp) during this run, or, for the consumers that do
#                                  not go through data_file() (tests/cli, fuzz/), have its path
#                                  relative to tests/data spelled in their sources.
# Exempt: README.md and summary.json (the generators' human-readable reports, not fixtures).
# -DUNBUILT="onnx/;bad/onnx/": prefixes whose tests this build does not have (gradattr::onnx off);
# their files are counted and reported as not checked, never silently passed.
if(MODE STREQUAL "reset")
  file(REMOVE_RECURSE "${LOG_DIR}")
  file(MAKE_DIRECTORY "${LOG_DIR}")
  return()
endif()
if(NOT MODE STREQUAL "check")
  message(FATAL_ERROR "check_data_used.cmake: MODE must be reset or check")
endif()

set(opened)
file(GLOB logs "${LOG_DIR}/*.log")
foreach(log ${logs})
  file(STRINGS "${log}" lines)
  list(APPEND opened ${lines})
endforeach()
list(REMOVE_DUPLICATES opened)

set(other_sources)
file(GLOB_RECURSE candidates "${SOURCE_DIR}/tests/cli/*" "${SOURCE_DIR}/fuzz/*.cpp" "${SOURCE_DIR}/fuzz/*.txt"
     "${SOURCE_DIR}/fuzz/*.cmake")
foreach(f ${candidates})
  file(READ "${f}" text)
  string(APPEND other_sources "${text}\n")
endforeach()

file(GLOB_RECURSE data RELATIVE "${DATA_DIR}" "${DATA_DIR}/*")
list(SORT data)
set(unused)
set(count 0)
set(unbuilt_count 0)
foreach(rel ${data})
  get_filename_component(name "${rel}" NAME)
  if(name STREQUAL "README.md" OR name STREQUAL "summary.json")
    continue()
  endif()
  set(skip FALSE)
  foreach(prefix ${UNBUILT})
    string(FIND "${rel}" "${prefix}" at)
    if(at EQUAL 0)
      set(skip TRUE)
    endif()
  endforeach()
  if(skip)
    math(EXPR unbuilt_count "${unbuilt_count} + 1")
    continue()
  endif()
  math(EXPR count "${count} + 1")
  list(FIND opened "${rel}" at)
  if(at GREATER -1)
    continue()
  endif()
  string(FIND "${other_sources}" "${rel}" at)
  if(at GREATER -1)
    continue()
  endif()
  list(APPEND unused "${rel}")
endforeach()
if(unbuilt_count GREATER 0)
  message("NOT CHECKED: ${unbuilt_count} files under ${UNBUILT} (their tests are not built in this configuration)")
endif()
list(LENGTH opened n_opened)
if(unused)
  list(LENGTH unused n)
  string(REPLACE ";" "\n  " listing "${unused}")
  message(FATAL_ERROR "${n} of ${count} files under tests/data are read by no test "
                      "(${n_opened} distinct files recorded in ${LOG_DIR}):\n  ${listing}\n"
                      "Compare each against the library (open it through testing::data_file()) or delete it.")
endif()
message(STATUS "all ${count} files under tests/data are read by a test")
