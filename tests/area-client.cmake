# libfieldsync (client-lib/): unit tests through the public API, linked against the shared
# library as an app would be (fs_proto only for the tests' own protobuf encoding).
# (SQLite only to tamper with an encrypted store's file.)
fs_test(NAME test_client_store SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_client_store.c
        LIBS fieldsync fs_proto PkgConfig::SQLITE3 TIMEOUT 120)
# White-box: the page apply called directly (internals), linked with the library's objects.
fs_test(NAME test_client_apply SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_client_apply.c
        LIBS fieldsync_internal TIMEOUT 60)

# Against the real server (child process on 127.0.0.1:0, real TLS, real admin CLI). Deferred
# to the end of tests/: the test support library comes from area-transport.cmake, included
# after this file.
function(fs_client_integration_tests)
  if(TARGET fs_testsupport AND TARGET fieldsync-server)
    fs_test(NAME test_sync_basic
            SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sync_basic.c
            LIBS fieldsync fs_proto fs_testsupport Threads::Threads TIMEOUT 120
            LABELS integration)
    add_dependencies(test_sync_basic fieldsync-server)
  endif()
endfunction()
cmake_language(DEFER CALL fs_client_integration_tests)

# The guide's example program (client-lib/examples/example.c, shown whole in
# docs/client-guide.md) built against the INSTALLED library (cmake --install of this build into
# a temporary prefix, then pkg-config) and run against a real server. A shell script: it drives
# cmake, pkg-config and the compiler as an app developer would.
if(TARGET fieldsync AND TARGET fieldsync-server)
  set(FS_EXAMPLE_CFLAGS "")
  if(FS_SANITIZE)
    set(FS_EXAMPLE_CFLAGS "-fsanitize=address,undefined")
  endif()
  add_test(NAME test_example COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_example.sh)
  set_tests_properties(test_example PROPERTIES TIMEOUT 60 LABELS integration ENVIRONMENT
    "FS_BUILD_DIR=${PROJECT_BINARY_DIR};FS_SOURCE_DIR=${PROJECT_SOURCE_DIR};FS_SERVER_BIN=$<TARGET_FILE:fieldsync-server>;FS_CMAKE=${CMAKE_COMMAND};FS_CC=${CMAKE_C_COMPILER};FS_EXAMPLE_CFLAGS=${FS_EXAMPLE_CFLAGS}")
endif()
