// ISA-L's erasure code API (Debian's libisal-dev) for STOQData's Reed–Solomon coding.
#include <isa-l/erasure_code.h>
