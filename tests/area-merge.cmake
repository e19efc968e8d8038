# Merge area: the pure merge code (unit), its stored/exchanged state, and the convergence
# property test. merge_fixture.c: the ops, devices and reports these tests share.
set(FS_MERGE_FIXTURE ${CMAKE_CURRENT_SOURCE_DIR}/unit/merge_fixture.c)
fs_test(NAME test_merge SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge.c ${FS_MERGE_FIXTURE}
        LIBS fs_common)
fs_test(NAME test_merge_state
        SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_state.c ${FS_MERGE_FIXTURE}
        LIBS fs_common)
fs_test(NAME test_merge_prop SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_prop.c
        LIBS fs_common TIMEOUT 120)
