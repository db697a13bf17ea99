# cmake -DMODE=add_subdirectory|fetchcontent|find_package -DGRADATTR_SOURCE_DIR=... -DCONSUMER_DIR=...
#       -DWORK_DIR=... -P run_consumer.cmake
# Configures, builds and runs the consumer; fails on any error.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(extra "")
if(MODE STREQUAL "find_package")
  # Install gradattr (headers + CMake package) into a temporary prefix first.
  run(${CMAKE_COMMAND} -S ${GRADATTR_SOURCE_DIR} -B ${WORK_DIR}/gradattr-build -G ${GENERATOR}
      -DGRADATTR_BUILD_TESTS=OFF -DGRADATTR_BUILD_EXAMPLES=OFF -DGRADATTR_BUILD_BENCHMARKS=OFF
      -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/gradattr-build)
  set(extra -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
endif()
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer-build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Debug -DMODE=${MODE} -DGRADATTR_SOURCE_DIR=${GRADATTR_SOURCE_DIR} ${extra})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
run(${WORK_DIR}/consumer-build/consumer)
message(STATUS "packaging ${MODE}: consumer built and ran")
