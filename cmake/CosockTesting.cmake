# CosockTesting.cmake: cosock_add_check_test(), one ctest per Check TCase.
#
#   cosock_add_check_test(<name>
#       SOURCES <file>...            test sources; each test program defines
#                                    `Suite *cosock_test_suite(void);`
#       [LIBS <lib>...]              linked PRIVATE (cosock::co, cosock::sock, ...)
#       [TIMEOUT <seconds>]          per TCase, default 60; a source can raise it for its
#                                    own cases with a comment `ctest-timeout: <seconds>`
#       [ENVIRONMENT <VAR=value>...] extra environment for every case
#       [LABELS <label>...]
#       [LAUNCHER <command>...]      run each case as `<command>... <exe>` (the command
#                                    runs the exe itself, under the emulator if any)
#       [SKIP_RETURN_CODE <code>])   a case exiting with it is reported as skipped
#
# Builds the executable <name> from SOURCES plus tests/support/check_main.c (the shared
# `main`), then scans SOURCES for tcase_create("NAME") (the name must be a string literal)
# and registers one test per TCase, named <name>.<NAME>, run with CK_RUN_CASE=NAME.
# A test passes only if the output contains Check's summary with at least one check and
# no failure or error:  100%: Checks: N, Failures: 0, Errors: 0
# so a crash, a hang (TIMEOUT), an exe that cannot load (Wine exits 53 silently) or a
# CK_RUN_CASE that matched nothing can never count as a pass. Sanitizer reports and Wine
# crash messages fail a test even after a good summary line.
#
# Editing a test source re-runs CMake at the next build (CMAKE_CONFIGURE_DEPENDS), so a
# new TCase shows up as a new ctest without a manual re-configure.
#
# With COSOCK_RUN_TESTS OFF (the mingw-x86 preset) the exe is built, nothing registered.
include_guard(GLOBAL)

set(COSOCK_TEST_PASS_REGEX "100%: Checks: [1-9][0-9]*, Failures: 0, Errors: 0")
set(COSOCK_TEST_FAIL_REGEX
    "ERROR: AddressSanitizer" "ERROR: LeakSanitizer" "WARNING: ThreadSanitizer"
    "runtime error:" "wine: Unhandled" "wine: Assertion failed" "wine: could not load")

# ThreadSanitizer maps its shadow memory at fixed addresses; on kernels with high mmap
# randomisation (vm.mmap_rnd_bits=32) it dies with "unexpected memory mapping". Running
# the tests with ASLR off (setarch -R) avoids that on any kernel.
set(COSOCK_TEST_LAUNCHER "")
if(COSOCK_SANITIZE MATCHES "thread")
    find_program(COSOCK_SETARCH setarch)
    if(COSOCK_SETARCH)
        set(COSOCK_TEST_LAUNCHER "${COSOCK_SETARCH}" "${CMAKE_HOST_SYSTEM_PROCESSOR}" -R)
    endif()
endif()

function(cosock_add_check_test name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "TIMEOUT;SKIP_RETURN_CODE"
                          "SOURCES;LIBS;ENVIRONMENT;LABELS;LAUNCHER")
    if(arg_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "cosock_add_check_test(${name}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
    endif()
    if(NOT arg_SOURCES)
        message(FATAL_ERROR "cosock_add_check_test(${name}): no SOURCES")
    endif()
    if(NOT arg_TIMEOUT)
        set(arg_TIMEOUT 60)
    endif()

    add_executable(${name} ${arg_SOURCES} "${PROJECT_SOURCE_DIR}/tests/support/check_main.c")
    target_link_libraries(${name} PRIVATE ${arg_LIBS} cosock::check)
    cosock_target_warnings(${name})
    if(NOT MSVC)
        # Test files define cosock_test_suite() without a header declaring it.
        target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:C>:-Wno-missing-prototypes>)
    elseif(CMAKE_C_COMPILER_ID STREQUAL "Clang")
        # START_TEST's `_i` parameter is marked unused only for GNU compilers.
        target_compile_options(${name} PRIVATE -Wno-unused-parameter)
    else()
        target_compile_options(${name} PRIVATE /wd4100)
    endif()

    set(cases "")
    foreach(src IN LISTS arg_SOURCES)
        get_filename_component(src "${src}" ABSOLUTE)
        set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${src}")
        file(READ "${src}" text)
        # A test file may ask for a longer per-case timeout with a comment line such as
        #   /* ctest-timeout: 180 */
        if(text MATCHES "ctest-timeout:[ \t]*([0-9]+)")
            set(arg_TIMEOUT ${CMAKE_MATCH_1})
        endif()
        string(REGEX MATCHALL "tcase_create[ \t\r\n]*\\([ \t\r\n]*\"[^\"]+\"" found "${text}")
        foreach(call IN LISTS found)
            string(REGEX REPLACE ".*\"([^\"]+)\"" "\\1" case "${call}")
            if(NOT case MATCHES "^[A-Za-z0-9_.-]+$")
                message(FATAL_ERROR "${src}: TCase name \"${case}\" must be [A-Za-z0-9_.-]+ (it becomes a ctest name)")
            endif()
            if(case IN_LIST cases)
                message(FATAL_ERROR "${src}: TCase \"${case}\" is created twice in ${name}")
            endif()
            list(APPEND cases "${case}")
        endforeach()
    endforeach()
    if(NOT cases)
        message(FATAL_ERROR "cosock_add_check_test(${name}): no tcase_create(\"NAME\") with a "
                            "literal name in ${arg_SOURCES}; nothing could be registered")
    endif()

    if(NOT COSOCK_RUN_TESTS)
        return()
    endif()
    foreach(case IN LISTS cases)
        if(arg_LAUNCHER)
            add_test(NAME ${name}.${case} COMMAND ${arg_LAUNCHER} $<TARGET_FILE:${name}>)
        elseif(COSOCK_TEST_LAUNCHER)
            add_test(NAME ${name}.${case} COMMAND ${COSOCK_TEST_LAUNCHER} $<TARGET_FILE:${name}>)
        else()
            add_test(NAME ${name}.${case} COMMAND ${name})
        endif()
        set(env "CK_RUN_CASE=${case}" ${arg_ENVIRONMENT})
        set_tests_properties(${name}.${case} PROPERTIES
            ENVIRONMENT "${env}"
            TIMEOUT ${arg_TIMEOUT}
            PASS_REGULAR_EXPRESSION "${COSOCK_TEST_PASS_REGEX}"
            FAIL_REGULAR_EXPRESSION "${COSOCK_TEST_FAIL_REGEX}")
        if(arg_LABELS)
            set_tests_properties(${name}.${case} PROPERTIES LABELS "${arg_LABELS}")
        endif()
        if(arg_SKIP_RETURN_CODE)
            set_tests_properties(${name}.${case} PROPERTIES SKIP_RETURN_CODE ${arg_SKIP_RETURN_CODE})
        endif()
    endforeach()
endfunction()
