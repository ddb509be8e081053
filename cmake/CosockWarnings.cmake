# CosockWarnings.cmake: cosock_target_warnings(<target>): the project's warning policy.
#
# Warnings are errors everywhere, for every toolchain:
#   gcc / clang (mingw, native): -Wall -Wextra -Wpedantic -Werror and a few useful extras
#       (the same for C++ sources, less the C-only -Wstrict/-Wmissing-prototypes).
#       -Wpedantic with C_EXTENSIONS OFF makes gcc reject GNU C the way MSVC would.
#   clang-cl:  /W4 /WX, plus -Werror=gnu -Werror=vla -Werror=pointer-arith: plain /W4
#       silently accepts statement expressions, labels-as-values, VLAs, case ranges, `?:`
#       without a middle operand, void* arithmetic and zero-length arrays, all of which
#       cl.exe rejects. (__typeof__ and __attribute__ still pass: the guard test greps.)
#   cl.exe (msvc preset): /W4 /WX.
include_guard(GLOBAL)

function(cosock_target_warnings target)
    if(MSVC)
        target_compile_options(${target} PRIVATE /W4 /WX)
        if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
            target_compile_options(${target} PRIVATE
                -Werror=gnu -Werror=vla -Werror=pointer-arith)
        else()
            # cl.exe: /sdl-style "unsafe CRT" deprecations are noise for portable C.
            target_compile_definitions(${target} PRIVATE _CRT_SECURE_NO_WARNINGS)
        endif()
    else()
        target_compile_options(${target} PRIVATE
            -Wall -Wextra -Wpedantic -Werror
            -Wshadow -Wpointer-arith -Wvla -Wundef -Wcast-align -Wwrite-strings
            # C only: g++ rejects them under -Werror (tests/cpp/ builds C++)
            "$<$<COMPILE_LANGUAGE:C>:-Wstrict-prototypes;-Wmissing-prototypes>")
    endif()
endfunction()
