// AgentSession::async_transaction: begin → steps → commit as a chain of async calls on the
// session (fairly queued and counted like any of its calls), cancel on the first failed step.
// The limits judge the begin and each step; once the begin is let in, the commit or cancel that
// ends the transaction is not theirs to refuse.
#include "agent_session_impl.hpp"

#include <memory>
#include <vector>

#include "cortex/sessions/agent_session.hpp"
#include "cortex/storage/error.hpp"

namespace cortex::sessions {
namespace {

struct TxnRun : std::enable_shared_from_this<TxnRun> {
  std::shared_ptr<AgentSession> session;  // alive (and so not closed) until the transaction ends
  std::shared_ptr<AgentSession::Impl> impl;  // its state: the end of the transaction is admitted unlimited
  std::vector<storage::Request> steps;
  storage::Handler handler;
  storage::Uuid txn;
  storage::Array results;

  storage::RequestOptions in_txn() const {
    storage::RequestOptions o;
    o.txn = txn;
    return o;
  }

  void begin() {
    session->async_call(storage::rpc::begin(), {}, [self = shared_from_this()](std::error_code ec, storage::Value v) {
      if (ec) return self->handler(ec, std::move(v));
      if (!v.is<storage::Uuid>()) {
        return self->handler(make_error_code(Errc::protocol_error), storage::Value("begin returned no transaction id"));
      }
      self->txn = v.get<storage::Uuid>();
      self->step(0);
    });
  }

  void step(std::size_t i) {
    if (i == steps.size()) return commit();
    const bool is_query = steps[i].method == "query";
    session->async_call(std::move(steps[i]), in_txn(), [self = shared_from_this(), i, is_query](std::error_code ec, storage::Value v) {
      if (!ec && is_query) {  // statement errors are not RPC errors: a failed one fails the step
        try {
          storage::QueryResult::parse(v).throw_if_error();
        } catch (const Error& e) {
          return self->cancel(e.code(), storage::Value("step " + std::to_string(i) + ": " + e.what()));
        }
      }
      if (ec) return self->cancel(ec, std::move(v));
      self->results.push_back(std::move(v));
      self->step(i + 1);
    });
  }

  void commit() {
    impl->submit(
        storage::rpc::commit(txn), {},
        [self = shared_from_this()](std::error_code ec, storage::Value v) {
          if (ec) return self->handler(ec, std::move(v));
          self->handler({}, storage::Value(std::move(self->results)));
        },
        false);
  }

  /// Cancels, then reports the step's failure (whatever the cancel's outcome: on a lost
  /// connection the server drops the transaction anyway).
  void cancel(std::error_code ec, storage::Value why) {
    impl->submit(
        storage::rpc::cancel(txn), {},
        [self = shared_from_this(), ec, why = std::move(why)](std::error_code, storage::Value) mutable {
          self->handler(ec, std::move(why));
        },
        false);
  }
};

}  // namespace

void AgentSession::async_transaction(std::vector<storage::Request> steps, storage::Handler handler) {
  auto run = std::make_shared<TxnRun>();
  run->session = shared_from_this();
  run->impl = impl_;
  run->steps = std::move(steps);
  run->handler = std::move(handler);
  run->begin();
}

}  // namespace cortex::sessions
