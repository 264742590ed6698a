#include "models/family.h"

#include "runtime/error.h"

namespace fwsvd {

// The families, one file each in models/families/.
extern const Family kBertFamily;
extern const Family kDistilBertFamily;
extern const Family kRobertaFamily;
extern const Family kXlmRobertaFamily;
extern const Family kAlbertFamily;
extern const Family kElectraFamily;

const std::vector<const Family*>& families() {
    static const std::vector<const Family*> all = {&kBertFamily,    &kDistilBertFamily,
                                                   &kRobertaFamily, &kXlmRobertaFamily,
                                                   &kAlbertFamily,  &kElectraFamily};
    return all;
}

RoleKind role_kind(Role role) {
    switch (role) {
        case Role::word_emb:
        case Role::pos_emb:
        case Role::type_emb:
            return RoleKind::table;
        case Role::emb_ln:
        case Role::attn_ln:
        case Role::out_ln:
            return RoleKind::layernorm;
        default:
            return RoleKind::linear;
    }
}

bool is_layer_role(Role role) {
    return role >= Role::query && role <= Role::out_ln;
}

const std::vector<Role>& layer_linear_roles() {
    static const std::vector<Role> roles = {Role::query,    Role::key,   Role::value,
                                            Role::attn_out, Role::inter, Role::out};
    return roles;
}

const char* role_name(Role role) {
    switch (role) {
        case Role::word_emb:
            return "word_emb";
        case Role::pos_emb:
            return "pos_emb";
        case Role::type_emb:
            return "type_emb";
        case Role::emb_ln:
            return "emb_ln";
        case Role::emb_proj:
            return "emb_proj";
        case Role::query:
            return "query";
        case Role::key:
            return "key";
        case Role::value:
            return "value";
        case Role::attn_out:
            return "attn_out";
        case Role::attn_ln:
            return "attn_ln";
        case Role::inter:
            return "inter";
        case Role::out:
            return "out";
        case Role::out_ln:
            return "out_ln";
        case Role::head_dense:
            return "head_dense";
        case Role::classifier:
            return "classifier";
    }
    return "?";
}

std::string Family::tensor_name(Role role, int64_t index) const {
    for (const TensorName& t : tensors) {
        if (t.role != role) continue;
        std::string full = t.name;
        const size_t at = full.find("{i}");
        if (at != std::string::npos) full.replace(at, 3, std::to_string(index));
        return full;
    }
    return "";
}

bool Family::has(Role role) const {
    for (const TensorName& t : tensors) {
        if (t.role == role) return true;
    }
    return false;
}

std::string supported_model_types() {
    std::string s;
    for (const Family* f : families()) s += (s.empty() ? "" : ", ") + f->model_type;
    return s;
}

const Family& family_of(const std::string& model_type, const std::string& source) {
    for (const Family* f : families()) {
        if (f->model_type == model_type) return *f;
    }
    throw Error(str_cat(source, ": model_type '", model_type,
                        "' is not supported (fwsvd runs model_type ", supported_model_types(),
                        ")"));
}

}  // namespace fwsvd
