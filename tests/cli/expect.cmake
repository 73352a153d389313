# Runs EXE with ARGS as a user does; passes when it exits with EXPECT_RC (a number, or "nonzero" for
# a command that must fail) and its output, stdout and stderr merged as they were printed, matches
# the regex EXPECT (in which ";" travels as @SEMICOLON@: a CMake argument would split there).
string(REPLACE "@SEMICOLON@" ";" EXPECT "${EXPECT}")
execute_process(COMMAND ${EXE} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(EXPECT_RC STREQUAL "nonzero")
  if(rc EQUAL 0)
    message(FATAL_ERROR "expected a failure, got exit code 0\noutput: ${out}")
  endif()
elseif(NOT rc EQUAL EXPECT_RC)
  message(FATAL_ERROR "expected exit code ${EXPECT_RC}, got ${rc}\noutput: ${out}")
endif()
if(NOT "${out}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "output does not match '${EXPECT}'\noutput: ${out}")
endif()
message(STATUS "exit ${rc} as expected, output matches")
