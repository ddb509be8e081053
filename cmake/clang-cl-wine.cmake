# clang-cl in MSVC mode against Wine's Windows SDK (libwine-dev), linked with lld-link.
#
# This is how we prove "compiles with MSVC" on Debian: the same front end rules as cl.exe
# (MSVC dialect, MSVC ABI, /W4), Wine's SDK headers and import libraries instead of the
# Windows SDK, and a real PE exe that Wine runs (thread-pool IO, AcceptEx/ConnectEx included).
#
#   compile: clang-cl /Zl /GS- -imsvc <wine>/msvcrt -imsvc <wine>/windows
#            /Zl:  no default-library records (there is no libcmt/msvcrt.lib here)
#            /GS-: no security cookie (no __security_cookie in Wine's CRT)
#            -imsvc keeps SDK headers quiet (with /I they flood /W4 with warnings)
#   link:    lld-link /nodefaultlib /entry:mainCRTStartup with Wine's ucrtbase, winecrt0,
#            kernel32 (+ whatever the target asks for, e.g. ws2_32, mswsock)
#
# Generated at configure time inside the build folder (never committed):
#   <build>/clang-cl-sdk/lib/NAME.lib -> <wine>/libNAME.a  (lld-link looks for NAME.lib)
# Committed, in cmake/clang-cl-shims/ (searched before Wine's headers):
#   mixed-case headers (<WinSock2.h> -> <winsock2.h>): Linux file names are case sensitive,
#   Windows' are not (Check's sources include <WinSock2.h>).
# Known gaps of Wine 8's SDK headers, handled in the code that needs them (sock/): no
# thread-pool callback-environment helpers (InitializeThreadpoolEnvironment, ...) and no
# FILE_SKIP_COMPLETION_PORT_ON_SUCCESS; detect Wine's headers with __WINE_WINBASE_H.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)

set(CMAKE_C_COMPILER clang-cl-14)
set(CMAKE_C_COMPILER_TARGET x86_64-pc-windows-msvc)
# C++ (tests/cpp/ only): the same compiler in /TP mode. There is no C++ standard library
# here (Wine's SDK has none), so C++ code may use the C headers and cosock's only.
set(CMAKE_CXX_COMPILER clang-cl-14)
set(CMAKE_CXX_COMPILER_TARGET x86_64-pc-windows-msvc)
set(CMAKE_LINKER lld-link-14)
set(CMAKE_AR llvm-lib-14)
set(CMAKE_RC_COMPILER llvm-rc-14)
set(CMAKE_MT llvm-mt-14)

set(COSOCK_WINE_INCLUDE_DIR "/usr/include/wine/wine" CACHE PATH
    "Wine's SDK headers (folders msvcrt/ and windows/), from libwine-dev")
set(COSOCK_WINE_LIB_DIR "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows" CACHE PATH
    "Wine's PE import libraries lib*.a, from libwine-dev")

# try_compile() projects read this file again from a scratch folder: hand them the
# top-level folder so they reuse its generated SDK instead of making one each.
if(NOT COSOCK_CLANG_CL_SDK)
    set(COSOCK_CLANG_CL_SDK "${CMAKE_BINARY_DIR}/clang-cl-sdk")
endif()
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES
     COSOCK_CLANG_CL_SDK COSOCK_WINE_INCLUDE_DIR COSOCK_WINE_LIB_DIR)

if(NOT EXISTS "${COSOCK_CLANG_CL_SDK}/stamp")
    if(NOT EXISTS "${COSOCK_WINE_INCLUDE_DIR}/windows/windows.h")
        message(FATAL_ERROR "clang-cl preset: ${COSOCK_WINE_INCLUDE_DIR}/windows/windows.h "
                            "not found (apt-get install libwine-dev, or run .ci/setup)")
    endif()
    file(MAKE_DIRECTORY "${COSOCK_CLANG_CL_SDK}/lib")
    file(GLOB _cosock_wine_libs "${COSOCK_WINE_LIB_DIR}/lib*.a")
    foreach(_lib IN LISTS _cosock_wine_libs)
        get_filename_component(_name "${_lib}" NAME)
        string(REGEX REPLACE "^lib(.*)\\.a$" "\\1.lib" _name "${_name}")
        file(CREATE_LINK "${_lib}" "${COSOCK_CLANG_CL_SDK}/lib/${_name}" SYMBOLIC)
    endforeach()
    file(WRITE "${COSOCK_CLANG_CL_SDK}/stamp" "")
endif()

set(CMAKE_C_FLAGS_INIT
    "/Zl /GS- -imsvc ${CMAKE_CURRENT_LIST_DIR}/clang-cl-shims -imsvc ${COSOCK_WINE_INCLUDE_DIR}/msvcrt -imsvc ${COSOCK_WINE_INCLUDE_DIR}/windows")
# C++: no exceptions (/EHs-c-) and no RTTI (/GR-), which would need a C++ runtime. CMake
# appends its default /EHsc after these flags, so a C++ target adds /EHs-c- itself (as
# tests/cpp/ does); code that never throws links either way.
# Wine's winnt.h defines InterlockedCompareExchange128 as an inline function named after
# clang's builtin _InterlockedCompareExchange128: C accepts that, C++ rejects it
# ("definition of builtin function"), so C++ compiles it under another name (a gap of
# Wine's SDK, whose header only declares the intrinsic for cl.exe itself).
set(CMAKE_CXX_FLAGS_INIT
    "${CMAKE_C_FLAGS_INIT} /EHs-c- /GR- -D_InterlockedCompareExchange128=cosock_wine_InterlockedCompareExchange128")
# Wine's headers route printf & co. through the UCRT; winecrt0 has mainCRTStartup and
# _fltused. They go in the linker flags, not CMAKE_C_STANDARD_LIBRARIES: CMake's compiler
# ABI check links without the standard libraries and would fail (leaving
# CMAKE_SIZEOF_VOID_P empty).
set(_cosock_crt "/libpath:${COSOCK_CLANG_CL_SDK}/lib /nodefaultlib ucrtbase.lib winecrt0.lib kernel32.lib")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${_cosock_crt} /subsystem:console /entry:mainCRTStartup")
# DLLs: winecrt0's entry point has no leading underscore (lld-link wants _DllMainCRTStartup).
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${_cosock_crt} /entry:DllMainCRTStartup")
set(CMAKE_MODULE_LINKER_FLAGS_INIT "${_cosock_crt} /entry:DllMainCRTStartup")
set(CMAKE_C_STANDARD_LIBRARIES "kernel32.lib" CACHE STRING
    "Libraries linked into every C executable (clang-cl + Wine SDK)")
set(CMAKE_CXX_STANDARD_LIBRARIES "kernel32.lib" CACHE STRING
    "Libraries linked into every C++ executable (clang-cl + Wine SDK)")
# The release CRT flavour: Wine has no debug CRT (ucrtbased).
set(CMAKE_MSVC_RUNTIME_LIBRARY MultiThreadedDLL)

# Only Wine's SDK, never the Linux host's headers and libraries.
set(CMAKE_FIND_ROOT_PATH "${COSOCK_WINE_INCLUDE_DIR}" "${COSOCK_WINE_LIB_DIR}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR "${CMAKE_CURRENT_LIST_DIR}/wine-run.sh")
