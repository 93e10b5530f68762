# ctest driver of e2e-step-grad-check: compile the gradients plan, then check it.
#   cmake -DDS_COMPILE=... -DCHECKER=... -DSPEC=... -DPLAN=... -P StepGradCheck.cmake
execute_process(
  COMMAND ${DS_COMPILE} ${SPEC} --batch 2 --seq 16 --mode gradients -o ${PLAN}
  RESULT_VARIABLE compiled)
if(NOT compiled EQUAL 0)
  message(FATAL_ERROR "ds-compile --mode gradients failed (${compiled})")
endif()
execute_process(COMMAND ${CHECKER} ${PLAN} RESULT_VARIABLE checked)
if(NOT checked EQUAL 0)
  message(FATAL_ERROR "StepGradCheck failed (${checked})")
endif()
