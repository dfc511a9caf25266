#include "cortex/storage/io_runner.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "cortex/storage/error.hpp"

namespace cortex::storage {

struct IoRunner::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::vector<std::thread> threads;
};

IoRunner::IoRunner(unsigned threads) : impl_(std::make_unique<Impl>()) {
  for (unsigned i = 0; i < (threads ? threads : 1); ++i) impl_->threads.emplace_back([io = &impl_->io] { io->run(); });
}

IoRunner::~IoRunner() {
  if (!runs_here()) {
    stop();
    return;
  }
  // Destroyed by a handler on one of its own threads (the last owner let go there): that thread
  // cannot join itself, and the context must outlive its return from run(). A helper thread takes
  // the context and threads over, joins them all, then frees them.
  impl_->guard.reset();
  impl_->io.stop();
  std::thread([impl = std::move(impl_)] {
    for (auto& t : impl->threads) {
      if (t.joinable()) t.join();
    }
  }).detach();
}

asio::io_context& IoRunner::context() noexcept { return impl_->io; }

bool IoRunner::runs_here() const noexcept {
  for (const auto& t : impl_->threads) {
    if (t.get_id() == std::this_thread::get_id()) return true;
  }
  return false;
}

void IoRunner::stop() {
  impl_->guard.reset();
  impl_->io.stop();
  if (runs_here()) return;  // joined later, by the destructor's helper
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

void refuse_on_io_thread(asio::io_context& io, const std::string& what) {
  if (io.get_executor().running_in_this_thread()) {
    throw Error(make_error_code(Errc::invalid_argument), "blocking " + what + " made on the io thread");
  }
}

}  // namespace cortex::storage
