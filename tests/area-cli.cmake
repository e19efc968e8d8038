# The fieldsync command-line tool: JSON mapping and export writers (unit), and the real program
# against the real server (integration; needs the CLI in the default build, see
# client-lib/cli/CMakeLists.txt).
fs_test(NAME test_cli_json SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_cli_json.c
        LIBS fs_cli_core TIMEOUT 30)

if(TARGET fieldsync-cli AND TARGET fieldsync-server
   AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/support/testserver.c)
  get_target_property(FS_CLI_EXCLUDED fieldsync-cli EXCLUDE_FROM_ALL)
  if(NOT FS_CLI_EXCLUDED)
    fs_test(NAME test_cli SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_cli.c
            LIBS fs_testsupport TIMEOUT 120 LABELS integration)
    add_dependencies(test_cli fieldsync-cli fieldsync-server)
  endif()
endif()
