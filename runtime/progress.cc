#include "runtime/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace fwsvd {

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total) {
    // FWSVD_PROGRESS=1 draws on a pipe too: under mpirun a rank's stderr is one, forwarded to
    // the terminal by mpirun.
    const char* force = std::getenv("FWSVD_PROGRESS");
    enabled_ = (isatty(STDERR_FILENO) || (force && std::string(force) == "1")) &&
               !std::getenv("FWSVD_NO_PROGRESS");
    start_ = last_draw_ = std::chrono::steady_clock::now();
    if (enabled_) draw(true);
}

Progress::~Progress() {
    finish();
}

double Progress::elapsed_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::add(int64_t n) {
    done_ += n;
    if (enabled_) draw(false);
}

void Progress::set_note(const std::string& note) {
    note_ = note;
}

void Progress::draw(bool force) {
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_draw_ < std::chrono::milliseconds(100) &&
        !(total_ > 0 && done_ >= total_)) {
        return;
    }
    last_draw_ = now;
    double el = elapsed_s();
    double rate = el > 0 ? double(done_) / el : 0;
    char buf[512];
    if (total_ > 0) {
        int width = 30;
        double frac = std::min(1.0, double(done_) / double(total_));
        int fill = int(frac * width);
        std::string bar(size_t(fill), '#');
        bar += std::string(size_t(width - fill), '.');
        double eta = rate > 0 ? double(total_ - done_) / rate : 0;
        std::snprintf(buf, sizeof buf,
                      "\r%s [%s] %lld/%lld %5.1f%% %.1f %s/s ETA %02d:%02d %s\x1b[K",
                      label_.c_str(), bar.c_str(), (long long)done_, (long long)total_, 100 * frac,
                      rate, unit_.c_str(), int(eta) / 60, int(eta) % 60, note_.c_str());
    } else {
        std::snprintf(buf, sizeof buf, "\r%s %lld %s %.1f %s/s %s\x1b[K", label_.c_str(),
                      (long long)done_, unit_.c_str(), rate, unit_.c_str(), note_.c_str());
    }
    std::fputs(buf, stderr);
    std::fflush(stderr);
}

void Progress::finish() {
    if (finished_) return;
    finished_ = true;
    if (!enabled_) return;
    draw(true);
    std::fprintf(stderr, "\r%s: %lld %s in %.1f s %s\x1b[K\n", label_.c_str(), (long long)done_,
                 unit_.c_str(), elapsed_s(), note_.c_str());
}

}  // namespace fwsvd
