# libfieldsync (client-lib/): unit tests through the public API, linked against the shared
# library as an app would be (fs_proto only for the tests' own protobuf encoding).
fs_test(NAME test_client_store SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_client_store.c
        LIBS fieldsync fs_proto TIMEOUT 120)

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
