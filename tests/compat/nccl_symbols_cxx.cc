// nccl_symbols.c compiled as C++: every promised name exists with NCCL's types in C++ too (where the
// CUDA allocation calls also have their typed template overloads).
#include "nccl_symbols.c"
