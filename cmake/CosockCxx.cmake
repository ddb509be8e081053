# CosockCxx.cmake: cosock_enable_cxx(): C++ where this toolchain has a compiler.
#
# C++ is optional (tests/cpp/, the C++20 examples). A toolchain file that names a C++
# compiler (CMAKE_CXX_COMPILER: mingw-w64 g++, clang-cl) counts if the program exists
# (the i686 mingw g++ is not installed by .ci/setup); otherwise check_language() looks
# (host g++ for the native presets, cl for msvc). Sets in the caller's scope:
#   COSOCK_HAVE_CXX          TRUE if CXX is enabled
#   COSOCK_CXX20_COROUTINES  TRUE if C++20 coroutines and <coroutine> compile (cached):
#                            sock/sock.hpp can be used. Not with clang-cl here: Wine's
#                            SDK has no C++ standard library.
# A macro, not a function: enable_language() must run at file scope. Called once, from
# the top-level CMakeLists.txt (the directory common to every target that uses C++).
include_guard(GLOBAL)

macro(cosock_enable_cxx)
    set(COSOCK_HAVE_CXX FALSE)
    set(COSOCK_CXX20_COROUTINES FALSE)
    if(DEFINED CMAKE_CXX_COMPILER)
        find_program(COSOCK_CXX_PROGRAM NAMES "${CMAKE_CXX_COMPILER}" NO_CACHE)
        if(COSOCK_CXX_PROGRAM)
            set(COSOCK_HAVE_CXX TRUE)
        else()
            message(STATUS "cosock: no C++ compiler (${CMAKE_CXX_COMPILER} not found): C++ skipped")
        endif()
    else()
        include(CheckLanguage)
        check_language(CXX)
        if(CMAKE_CXX_COMPILER)
            set(COSOCK_HAVE_CXX TRUE)
        else()
            message(STATUS "cosock: no C++ compiler: C++ skipped")
        endif()
    endif()
    if(COSOCK_HAVE_CXX)
        enable_language(CXX)
        message(STATUS "cosock: C++ with ${CMAKE_CXX_COMPILER}")
        include(CheckCXXSourceCompiles)
        set(_cosock_saved_std "${CMAKE_CXX_STANDARD}")
        set(CMAKE_CXX_STANDARD 20)  # try_compile honours it (CMP0067)
        check_cxx_source_compiles([[
#include <coroutine>
struct t { struct promise_type {
  t get_return_object() { return {}; }
  std::suspend_never initial_suspend() noexcept { return {}; }
  std::suspend_never final_suspend() noexcept { return {}; }
  void return_void() {}
  void unhandled_exception() {}
}; };
t f() { co_return; }
int main() { f(); return 0; }
]] COSOCK_HAVE_CXX20_COROUTINES)
        set(CMAKE_CXX_STANDARD "${_cosock_saved_std}")
        if(COSOCK_HAVE_CXX20_COROUTINES)
            set(COSOCK_CXX20_COROUTINES TRUE)
        else()
            message(STATUS "cosock: no C++20 coroutines with a <coroutine> header: "
                           "sock/sock.hpp, its tests and the C++20 examples skipped")
        endif()
    endif()
endmacro()
