# CTest driver for the fresh-machine contract: configuring without CLI11 must stop with the one
# line that installs it (and name tools/setup), and tools/setup must reject unknown arguments with
# exit 2 and report nothing missing once the build's packages are present.
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR} -DGFNRL_ENABLE_CUDA=OFF
          -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "configuring without CLI11 succeeded")
endif()
foreach(want "CLI11 not found" "tools/setup" "apt-get install libcli11-dev")
  string(FIND "${err}" "${want}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the missing-CLI11 error does not say '${want}':\n${err}")
  endif()
endforeach()
execute_process(COMMAND ${SOURCE_DIR}/tools/setup --bogus RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "tools/setup --bogus exited ${rc}, not 2: ${err}")
endif()
execute_process(COMMAND ${SOURCE_DIR}/tools/setup --check RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tools/setup --check reports missing packages on the machine that built this: ${out}")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
