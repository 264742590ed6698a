#include "compressor/method.h"

#include "runtime/error.h"

namespace fwsvd {

// The methods, one file each in compressor/methods/.
extern const Method kSvdMethod;
extern const Method kFwsvdMethod;
extern const Method kAsvdMethod;
extern const Method kWhitenMethod;
extern const Method kFisherWhitenMethod;
extern const Method kFw2Method;
extern const Method kTfwsvdMethod;

const std::vector<const Method*>& methods() {
    static const std::vector<const Method*> all = {
        &kSvdMethod,          &kFwsvdMethod, &kAsvdMethod,   &kWhitenMethod,
        &kFisherWhitenMethod, &kFw2Method,   &kTfwsvdMethod,
    };
    return all;
}

std::string method_names() {
    std::string s;
    for (const Method* m : methods()) s += (s.empty() ? "" : ", ") + m->name;
    return s;
}

const Method& method_named(const std::string& name) {
    for (const Method* m : methods()) {
        if (m->name == name) return *m;
    }
    throw Error(str_cat("unknown method '", name, "' (expected one of ", method_names(), ")"),
                ErrorKind::usage);
}

}  // namespace fwsvd
