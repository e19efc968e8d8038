# End-to-end: real server, real TLS, real libfieldsync stores (included last: it needs the
# test support library from area-transport.cmake).
if(TARGET fs_testsupport AND TARGET fieldsync AND TARGET fieldsync-server)
  fs_test(NAME test_e2e SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_e2e.c
          LIBS fieldsync fs_proto fs_testsupport TIMEOUT 180 LABELS integration)
endif()
if(TARGET fs_testsupport AND TARGET fieldsync AND TARGET fieldsync-server)
  fs_test(NAME test_sync_kill SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_sync_kill.c
          LIBS fieldsync fs_testsupport Threads::Threads TIMEOUT 240 LABELS integration)
endif()
if(TARGET fs_testsupport AND TARGET fieldsync AND TARGET fieldsync-server)
  fs_test(NAME test_crash_durability
          SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_crash_durability.c
          LIBS fieldsync fs_testsupport PkgConfig::SQLITE3 TIMEOUT 300 LABELS integration)
endif()
