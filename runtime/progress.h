// A progress bar with rate and ETA on stderr when it is a terminal; silent otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace fwsvd {

class Progress {
  public:
    // total <= 0: unknown total (shows a count). Disabled when stderr is not a terminal (unless
    // FWSVD_PROGRESS=1) or FWSVD_NO_PROGRESS is set.
    Progress(std::string label, int64_t total, std::string unit = "ex");
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void add(int64_t n = 1);
    // Extra text after the bar (e.g. "loss 0.41").
    void set_note(const std::string& note);
    // Clears the bar line and prints a one-line summary (on a terminal).
    void finish();
    bool enabled() const { return enabled_; }
    double elapsed_s() const;

  private:
    void draw(bool force);
    std::string label_, unit_, note_;
    int64_t total_, done_ = 0;
    bool enabled_, finished_ = false;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace fwsvd
