# Hardening area: bad input, faults and load against the real server (one executable per
# theme, each running its cases against one or two server processes), plus the unit
# regression tests for what the fuzzers found in common/.
set(FS_BI_UTIL ${CMAKE_CURRENT_SOURCE_DIR}/integration/bad_input_util.c)
foreach(t test_bad_input_wire test_bad_input_push)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.c)
    fs_test(NAME ${t}
            SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/${t}.c ${FS_BI_UTIL}
            LIBS fs_testsupport fs_server TIMEOUT 60 LABELS integration hardening)
    target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/integration)
    if(TARGET fieldsync-server)
      add_dependencies(${t} fieldsync-server)
    endif()
  endif()
endforeach()

fs_test(NAME test_frame_hardening SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_frame_hardening.c
        LIBS fs_common LABELS hardening)

