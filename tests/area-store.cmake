# Store area: records, history, conflicts, delivery state, feed, reader pool, crash safety.
fs_test(NAME test_store SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store.c LIBS fs_server
        TIMEOUT 60)
fs_test(NAME test_store_crash SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_crash.c
        LIBS fs_server TIMEOUT 60)
fs_test(NAME test_reader SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_reader.c LIBS fs_server
        TIMEOUT 30)
fs_test(NAME test_store_prepare SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_prepare.c
        LIBS fs_server TIMEOUT 30)
