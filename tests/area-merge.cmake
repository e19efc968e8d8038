fs_test(NAME test_merge SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge.c LIBS fs_common)
fs_test(NAME test_merge_prop SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_merge_prop.c
        LIBS fs_common TIMEOUT 120)
