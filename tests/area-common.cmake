fs_test(NAME test_error SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_error.c LIBS fs_common)
fs_test(NAME test_hlc SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_hlc.c LIBS fs_common)
fs_test(NAME test_uuid SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_uuid.c LIBS fs_common)
fs_test(NAME test_frame SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_frame.c LIBS fs_common)
