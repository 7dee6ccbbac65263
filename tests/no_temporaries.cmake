# Runs a test program with TMPDIR set to an empty directory of its own, then fails if anything is
# left in it: every test cleans up what it makes (tests/temp_dir_environment.cpp), passed or not.
# Usage: cmake -DPROGRAM=... -DFILTER=... -DWORK_DIR=... -P no_temporaries.cmake
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(ENV{TMPDIR} "${WORK_DIR}")
set(ENV{OMP_WAIT_POLICY} passive)
execute_process(COMMAND "${PROGRAM}" "--gtest_filter=${FILTER}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
file(GLOB left RELATIVE "${WORK_DIR}" "${WORK_DIR}/*" "${WORK_DIR}/.*")
file(REMOVE_RECURSE "${WORK_DIR}")
if(NOT rc EQUAL 0)
  string(REGEX MATCHALL "[^\n]*(Failure|FAILED)[^\n]*" failures "${out}")
  message(FATAL_ERROR "${PROGRAM} --gtest_filter=${FILTER} failed (${rc}):\n${failures}\n${err}")
endif()
if(left)
  message(FATAL_ERROR "left in the temporary directory: ${left}")
endif()
