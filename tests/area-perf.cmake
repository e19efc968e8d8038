# Performance area: the benchmarks' support code (bench/support) checked against the real
# server, so the figures `make bench` prints rest on tested parts. Built from source here so it
# also runs when benchmarks are off (make asan).
fs_test(NAME test_benchlib
        SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_benchlib.c
                ${PROJECT_SOURCE_DIR}/bench/support/benchlib.c
                ${PROJECT_SOURCE_DIR}/bench/support/bclient.c
        LIBS fs_testsupport fs_common fs_mbedtls Threads::Threads TIMEOUT 60
        LABELS integration)
target_include_directories(test_benchlib PRIVATE ${PROJECT_SOURCE_DIR}/bench/support
                                                 ${PROJECT_SOURCE_DIR}/tests/support)
if(TARGET fieldsync-server)
  add_dependencies(test_benchlib fieldsync-server)
endif()
