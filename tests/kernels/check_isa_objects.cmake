# Fails when an ISA variant object (*_avx512.cc.o, *_avx2.cc.o: built with -mavx512f / -mavx2)
# defines a weak or unique symbol. Such a symbol (an inline function or template instantiated
# out of line) would be merged by the linker with copies from files built for the baseline ISA,
# and the AVX-512 copy could end up running on a CPU without AVX-512 (the ODR hazard of mixing
# -m flags). Run by ctest: cmake -DNM=nm -DOBJECTS="a.o;b.o" -P check_isa_objects.cmake
set(checked 0)
foreach(obj IN LISTS OBJECTS)
    if(NOT obj MATCHES "_avx(512|2)\\.cc\\.o$")
        continue()
    endif()
    execute_process(COMMAND ${NM} -C --defined-only ${obj} OUTPUT_VARIABLE symbols
                    RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "nm failed on ${obj}")
    endif()
    string(REGEX MATCHALL "[^\n]* [WVu] [^\n]*" weak "${symbols}")
    if(weak)
        message(FATAL_ERROR "${obj} defines weak symbols:\n${weak}")
    endif()
    math(EXPR checked "${checked} + 1")
endforeach()
if(checked EQUAL 0)
    message(FATAL_ERROR "no *_avx512 / *_avx2 objects among: ${OBJECTS}")
endif()
message(STATUS "${checked} ISA variant objects, no weak symbols")
