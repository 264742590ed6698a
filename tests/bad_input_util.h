// Helpers of the bad-input tests: files made at run time (safetensors images, configs,
// vocabularies, copies of the shared checkpoints edited in a TempDir) and checks on the Error they
// give.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/safetensors.h"
#include "tests/test_util.h"

namespace fwsvd::testing {

inline void write_bytes(const std::filesystem::path& p, const std::string& content) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(content.data(), std::streamsize(content.size()));
    if (!out) throw std::runtime_error("cannot write " + p.string());
}

inline std::string read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// 8-byte little-endian n.
inline std::string le64(uint64_t n) {
    std::string s;
    for (int i = 0; i < 8; ++i) s.push_back(char((n >> (8 * i)) & 0xff));
    return s;
}

// A safetensors image: header length, header text, data bytes.
inline std::string safetensors_bytes(const std::string& header, const std::string& data = "") {
    return le64(header.size()) + header + data;
}

// Copies the regular files of a model folder (the shared ones are read-only) into `to`.
inline void copy_model(const std::filesystem::path& from, const std::filesystem::path& to) {
    namespace fs = std::filesystem;
    fs::create_directories(to);
    for (const auto& e : fs::directory_iterator(from)) {
        if (!e.is_regular_file()) continue;
        fs::copy_file(e.path(), to / e.path().filename(), fs::copy_options::overwrite_existing);
        fs::permissions(to / e.path().filename(), fs::perms::owner_read | fs::perms::owner_write);
    }
}

// Rewrites model.safetensors of dir with every tensor as F32 after `edit` changed the map.
inline void edit_weights(const std::filesystem::path& dir,
                         const std::function<void(std::map<std::string, Tensor>&)>& edit) {
    std::map<std::string, Tensor> tensors;
    {
        auto f = SafetensorsFile::open(dir / "model.safetensors");
        for (const auto& t : f->tensors()) tensors[t.name] = f->read_f32(t.name);
    }
    edit(tensors);
    SafetensorsWriter w;
    w.set_metadata("format", "pt");
    for (const auto& [name, t] : tensors) w.add(name, t);
    w.write(dir / "model.safetensors");
}

inline nlohmann::json read_json(const std::filesystem::path& p) {
    return nlohmann::json::parse(read_bytes(p));
}

inline void edit_config(const std::filesystem::path& dir,
                        const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = read_json(dir / "config.json");
    edit(j);
    write_bytes(dir / "config.json", j.dump(2));
}

// A WordPiece vocabulary of 40 entries, small enough for the tiny golden models (vocab 97/120).
inline const char* small_vocab() {
    return "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n!\n,\n.\n?\n'\na\nan\nthe\nis\nit\nof\nand\nto\n"
           "movie\nfilm\ngood\nbad\ngreat\nfun\nboring\nnot\nvery\nhello\nworld\n##s\n##ing\n##ly\n"
           "he\nsaid\nhi\nwe\nus\ngreet\n##ed\nx\n";
}

struct Caught {
    bool thrown = false;
    std::string message;
    ErrorKind kind = ErrorKind::internal;
};

// Runs f and returns the fwsvd::Error it threw (thrown false when none).
template <typename F>
Caught catch_error(F&& f) {
    Caught c;
    try {
        f();
    } catch (const Error& e) {
        c.thrown = true;
        c.message = e.what();
        c.kind = e.kind();
    }
    return c;
}

// Expects f to throw an Error whose message holds every one of `parts`.
template <typename F>
Caught expect_error(F&& f, std::initializer_list<std::string> parts) {
    Caught c = catch_error(std::forward<F>(f));
    EXPECT_TRUE(c.thrown) << "no fwsvd::Error thrown";
    for (const auto& p : parts) {
        EXPECT_NE(c.message.find(p), std::string::npos)
            << "message lacks \"" << p << "\": " << c.message;
    }
    return c;
}

// Entries of dir whose name marks an fwsvd temporary (".NAME.fwsvd-tmp-...").
inline std::vector<std::string> temporaries(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        const std::string n = e.path().filename().string();
        if (n.find(".fwsvd-tmp-") != std::string::npos) out.push_back(n);
    }
    return out;
}

}  // namespace fwsvd::testing
