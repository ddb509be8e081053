# Cross-compile for 64-bit Windows with Debian's mingw-w64 gcc; ctest runs the exes under Wine.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc)
# C++ (tests/cpp/ only, enabled there if this program exists: g++-mingw-w64-x86-64).
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)

set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# ONLY also ignores CMAKE_PREFIX_PATH: point find_package at a package with <Pkg>_DIR.
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Every add_test() on an executable target runs through this wrapper (see the script).
set(CMAKE_CROSSCOMPILING_EMULATOR "${CMAKE_CURRENT_LIST_DIR}/wine-run.sh")
