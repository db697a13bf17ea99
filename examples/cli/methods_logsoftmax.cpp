// Every method in the LogSoftmax score space for the CLI's model types (method_instances.hpp).
#include "method_instances.hpp"

GRADATTR_CLI_INSTANTIATE(gradattr::score::LogSoftmax)
