# Transport area: TLS, connections, dispatch, identity. Test support (a real server as a
# child process, a blocking TLS client) is a library other areas link too.
add_library(fs_testsupport STATIC ${CMAKE_CURRENT_SOURCE_DIR}/support/testserver.c
                                  ${CMAKE_CURRENT_SOURCE_DIR}/support/testclient.c)
# Both "support/testclient.h" and "testclient.h" resolve.
target_include_directories(fs_testsupport PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}
                                                 ${CMAKE_CURRENT_SOURCE_DIR}/support)
target_link_libraries(fs_testsupport PUBLIC fs_common fs_mbedtls)
fs_strict(fs_testsupport)

fs_test(NAME test_identity
        SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_identity.c
        LIBS fs_testsupport fs_server TIMEOUT 60 LABELS integration)
if(TARGET fieldsync-server)
  add_dependencies(test_identity fieldsync-server)
endif()
fs_test(NAME test_auth SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_auth.c LIBS fs_server)
fs_test(NAME test_config SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_config.c LIBS fs_server)
