# cmake -DSOURCE_DIR=... -DVERSION=... -DOUT=... -P version.cmake
# Writes OUT with the version and `git describe --always --dirty` of SOURCE_DIR ("unknown" when
# it is not a git checkout of its own, or git is missing); rewrites OUT only when it changes.
set(commit unknown)
find_program(GIT git)
if(GIT)
  execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} rev-parse --show-toplevel
                  RESULT_VARIABLE rc OUTPUT_VARIABLE top ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  # Only this source tree's own checkout (not a repository that happens to contain it).
  if(rc EQUAL 0)
    file(REAL_PATH "${top}" top)
    file(REAL_PATH "${SOURCE_DIR}" src)
  endif()
  if(rc EQUAL 0 AND top STREQUAL src)
    execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} describe --always --dirty
                    RESULT_VARIABLE rc OUTPUT_VARIABLE describe ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(rc EQUAL 0 AND describe)
      set(commit "${describe}")
    endif()
  endif()
endif()
set(text "#pragma once\n#define GRADATTR_CLI_VERSION \"${VERSION}\"\n#define GRADATTR_CLI_COMMIT \"${commit}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
