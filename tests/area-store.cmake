# Store area: records, history, conflicts, delivery state, feed, reader pool, crash safety.
# store_fixture.c: the temporary database, ids, sessions and reports these tests share.
set(FS_STORE_FIXTURE ${CMAKE_CURRENT_SOURCE_DIR}/unit/store_fixture.c)
fs_test(NAME test_store SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store.c ${FS_STORE_FIXTURE}
        LIBS fs_server TIMEOUT 60)
fs_test(NAME test_store_pull SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_pull.c
        ${FS_STORE_FIXTURE} LIBS fs_server TIMEOUT 60)
fs_test(NAME test_store_crash SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_crash.c
        LIBS fs_server TIMEOUT 60)
fs_test(NAME test_reader SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_reader.c ${FS_STORE_FIXTURE}
        LIBS fs_server TIMEOUT 30)
fs_test(NAME test_store_prepare
        SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_store_prepare.c ${FS_STORE_FIXTURE}
        LIBS fs_server TIMEOUT 30)
