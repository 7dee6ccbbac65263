# CTest driver: install the build tree into a scratch prefix, configure/build the consumer
# project against it, run it; with README, the README's C++ example (its first ```cpp block) is
# built and run the same way, so the manual's code compiles against the installed headers.
set(example_args "")
if(README)
  file(READ "${README}" text)
  string(FIND "${text}" "```cpp\n" start)
  if(start LESS 0)
    message(FATAL_ERROR "no ```cpp block in ${README}")
  endif()
  math(EXPR start "${start} + 7")
  string(SUBSTRING "${text}" ${start} -1 rest)
  string(FIND "${rest}" "```" end)
  string(SUBSTRING "${rest}" 0 ${end} code)
  file(WRITE "${WORK_DIR}/readme_example.cpp" "${code}")
  set(example_args "-DREADME_EXAMPLE=${WORK_DIR}/readme_example.cpp")
endif()
foreach(step
    "${CMAKE_COMMAND};--install;${BUILD_DIR};--prefix;${WORK_DIR}/prefix"
    "${CMAKE_COMMAND};-S;${SOURCE_DIR};-B;${WORK_DIR}/build;-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix;-DCMAKE_BUILD_TYPE=Release;${example_args}"
    "${CMAKE_COMMAND};--build;${WORK_DIR}/build"
    "${WORK_DIR}/build/gfnrl_consumer")
  execute_process(COMMAND ${step} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer step failed (${rc}): ${step}\n${out}\n${err}")
  endif()
endforeach()
message(STATUS "${out}")
if(README)
  execute_process(COMMAND "${WORK_DIR}/build/readme_example" RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "2000 ")
    message(FATAL_ERROR "README's C++ example failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "README example: ${out}")
endif()
