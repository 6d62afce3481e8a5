// Runs a flow: every step starts the moment the steps it references have finished (no supersteps),
// map steps fan out over their items with a cap, and the whole run holds at most Flow::max_parallel
// calls at once. A failing step follows its on_error; a run that fails (or is cancelled) cancels the
// calls still running and returns the outputs that did finish, never hangs.
// Threads: everything runs on the executor of the coroutine that awaits FlowRun::execute (make it a
// strand when the io_context has several threads); cancel() and events on that executor too.
#pragma once

#include "flows/caller.h"
#include "flows/spec.h"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kuai::flows {

struct CallTrace {
  int item = -1;                 // map item index, -1 for a plain step
  double start_ms = 0, end_ms = 0;  // since the run started
  int attempts = 0;
  std::string model;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string cache, route, error;
};

struct StepTrace {
  std::string name;
  std::string kind;
  // "pending" | "running" | "ok" | "skipped" | "failed" (on_error continue/fail) | "default" | "cancelled"
  std::string status = "pending";
  double start_ms = -1, end_ms = -1;  // since the run started
  int items = -1;                     // map: item count
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string error;
  std::vector<CallTrace> calls;
  double duration_ms() const { return start_ms < 0 || end_ms < 0 ? 0 : end_ms - start_ms; }
};

struct RunResult {
  std::string id;
  std::string flow;
  std::string status;                 // "completed" | "failed" | "cancelled"
  std::string error;                  // what failed, naming the step
  std::string failed_step;
  boost::json::object outputs;        // the flow's outputs that could be rendered
  boost::json::object step_outputs;   // each finished step's output
  std::vector<StepTrace> steps;
  double wall_ms = 0;
  double critical_path_ms = 0;        // longest chain of step durations along the references
  double sum_steps_ms = 0;            // what the steps would take one after another

  boost::json::object to_json() const;
};

struct Event {
  enum class Type { step_started, step_delta, step_completed };
  Type type = Type::step_started;
  const StepTrace* step = nullptr;  // valid during the callback
  int item = -1;
  std::string_view delta;
};
using EventFn = std::function<void(const Event&)>;

// Inputs the flow declares but were not given, or given but not declared: an error message.
std::optional<std::string> check_inputs(const Flow& flow, const boost::json::object& inputs);

class FlowRun {
 public:
  // `flow` and `caller` must outlive execute().
  FlowRun(const Flow& flow, boost::json::object inputs, StepCaller& caller, EventFn on_event = {});
  ~FlowRun();
  boost::asio::awaitable<RunResult> execute();
  // Stops the run: no new step starts, running calls are cancelled; execute() then returns "cancelled".
  void cancel();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// The run's critical path and sum from its trace and the flow's references.
void compute_path_times(const Flow& flow, RunResult& r);
// Parses a model's text as JSON: as is, or inside ``` fences, or from the first { or [ to the last } or ].
std::optional<boost::json::value> parse_json_answer(std::string_view text, std::string& error);

}  // namespace kuai::flows
