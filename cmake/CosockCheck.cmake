# CosockCheck.cmake: find or build the Check unit-test framework; defines cosock::check.
#
# Order of preference:
#   1. find_package(check CONFIG): a Check installed with CMake support, e.g. vcpkg's
#      `check` port on Windows. (Cross presets: pass -Dcheck_DIR=..., because
#      CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY ignores CMAKE_PREFIX_PATH.)
#   2. Native Linux: Debian's `check` package through pkg-config.
#   3. Windows targets: build Check 0.15.2 from its source tarball COSOCK_CHECK_TARBALL
#      (.ci/setup fetches it from Debian's source package into build/downloads/ and
#      verifies its sha256). The MSVC/clang-cl build needs lib/pthread_mutex.c, which the
#      tarball lacks: we copy in our own (cmake/check/pthread_mutex.c).
#
# cosock::check carries what a test exe needs beyond Check itself: on mingw a static link
# (`-static -pthread`: libcheck.a uses winpthreads, and an exe needing
# libwinpthread-1.dll fails to load under Wine) and ws2_32.
include_guard(GLOBAL)

set(COSOCK_CHECK_TARBALL "${PROJECT_SOURCE_DIR}/build/downloads/check_0.15.2.orig.tar.gz"
    CACHE FILEPATH "Check 0.15.2 source tarball, used when no installed Check is found")
set(COSOCK_CHECK_SHA256 8451b68ac5d6f3157b24f22eceff575bcf566264f6d78f3852f89d4e08cf42e1
    CACHE STRING "sha256 of COSOCK_CHECK_TARBALL (default: Debian's check_0.15.2.orig.tar.gz)")

add_library(cosock_check INTERFACE)
add_library(cosock::check ALIAS cosock_check)

find_package(check CONFIG QUIET)
if(check_FOUND)
    if(TARGET Check::check)
        target_link_libraries(cosock_check INTERFACE Check::check)
    else()
        target_link_libraries(cosock_check INTERFACE Check::checkShared)
    endif()
    set(_cosock_check_from "installed package (${check_DIR})")
elseif(NOT WIN32)
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(COSOCK_PC_CHECK REQUIRED IMPORTED_TARGET check)
    target_link_libraries(cosock_check INTERFACE PkgConfig::COSOCK_PC_CHECK)
    set(_cosock_check_from "pkg-config ${COSOCK_PC_CHECK_VERSION}")
else()
    if(NOT EXISTS "${COSOCK_CHECK_TARBALL}")
        message(FATAL_ERROR
            "Check not found. Either install it with CMake support (vcpkg: `vcpkg install check`, "
            "then configure with the vcpkg toolchain), or run .ci/setup (Debian) which puts the "
            "source tarball at ${COSOCK_CHECK_TARBALL}, or pass -DCOSOCK_CHECK_TARBALL=<path to "
            "check_0.15.2.orig.tar.gz>.")
    endif()
    include(FetchContent)
    FetchContent_Declare(cosock_check_src
        URL "${COSOCK_CHECK_TARBALL}"
        URL_HASH SHA256=${COSOCK_CHECK_SHA256}
        DOWNLOAD_EXTRACT_TIMESTAMP TRUE)
    FetchContent_GetProperties(cosock_check_src)
    if(NOT cosock_check_src_POPULATED)
        FetchContent_Populate(cosock_check_src)
    endif()
    configure_file("${CMAKE_CURRENT_LIST_DIR}/check/pthread_mutex.c"
                   "${cosock_check_src_SOURCE_DIR}/lib/pthread_mutex.c" COPYONLY)
    # As a subproject Check builds no tests and installs nothing. Its CMakeLists sets an
    # OLD policy, which newer CMake warns about: not ours to fix, keep the log quiet.
    set(CMAKE_WARN_DEPRECATED OFF)
    add_subdirectory("${cosock_check_src_SOURCE_DIR}" "${cosock_check_src_BINARY_DIR}"
                     EXCLUDE_FROM_ALL SYSTEM)
    target_link_libraries(cosock_check INTERFACE Check::check)
    set(_cosock_check_from "built from ${COSOCK_CHECK_TARBALL}")
endif()

if(MINGW)
    target_link_options(cosock_check INTERFACE -static -pthread)
endif()
if(WIN32)
    target_link_libraries(cosock_check INTERFACE ws2_32)
endif()
message(STATUS "cosock: Check ${_cosock_check_from}")
