#include "cortex/storage/io_runner.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

namespace cortex::storage {

struct IoRunner::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::vector<std::thread> threads;
};

IoRunner::IoRunner(unsigned threads) : impl_(std::make_unique<Impl>()) {
  for (unsigned i = 0; i < (threads ? threads : 1); ++i) impl_->threads.emplace_back([io = &impl_->io] { io->run(); });
}

IoRunner::~IoRunner() { stop(); }

asio::io_context& IoRunner::context() noexcept { return impl_->io; }

void IoRunner::stop() {
  impl_->guard.reset();
  impl_->io.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
  impl_->threads.clear();
}

}  // namespace cortex::storage
