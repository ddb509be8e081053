/*
 * check_main.c: the one `main` every cosock test program shares.
 *
 * Each test source defines `Suite *cosock_test_suite(void);` and is linked with this file
 * (tests/CMakeLists.txt does it through cosock_add_check_test). The build registers every
 * TCase of the suite as its own ctest test and selects it with the CK_RUN_CASE environment
 * variable, which Check's srunner honours by itself; run the exe by hand without it to run
 * every case.
 *
 * Exit status: 0 when every check passed, 1 otherwise. ctest does not trust the status
 * alone: it also requires Check's "100%: Checks: N, Failures: 0, Errors: 0" line, so a
 * crash, a hang, an exe that failed to load, or a CK_RUN_CASE that matched nothing can
 * never count as a pass.
 *
 * On Windows there is no fork(): Check runs every test in this one process (CK_NOFORK).
 * A failed assertion longjmps out of the test function, so a test must never leave a
 * pending overlapped operation that points into its own stack frame.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

Suite *cosock_test_suite(void);

int main(void)
{
    SRunner *runner = srunner_create(cosock_test_suite());
    int failed;

    /* Results must reach ctest's pipe even if a later test crashes the process. */
    setvbuf(stdout, NULL, _IONBF, 0);

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
