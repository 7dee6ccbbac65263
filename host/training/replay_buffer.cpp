// The DQN learners' per-run replay buffers.
#include "training/trainer_parts.hpp"

namespace gfnrl::training {

// Per slot: state and action, with prioritized replay its priority and prefix sum (and per 64
// slots a kept block sum); per sample: slot, state, action and |TD error|.
namespace {
std::size_t kept_blocks(const TrainConfig& c) { return (std::size_t(c.replay_capacity) + 63) / 64; }
}  // namespace

std::size_t ReplayBuffer::bytes(const TrainConfig& c) {
  const std::size_t slot =
      2 * sizeof(int32_t) + (c.prioritized ? sizeof(float) + sizeof(double) : 0);
  const std::size_t kept = c.prioritized ? kept_blocks(c) * sizeof(double) + sizeof(int64_t) : 0;
  return std::size_t(c.runs) * (std::size_t(c.replay_capacity) * slot + kept +
                                std::size_t(c.replay_batch) * (3 * sizeof(int32_t) + sizeof(float)));
}

ReplayBuffer::ReplayBuffer(Backend b, const TrainConfig& c) {
  const std::size_t slots = std::size_t(c.runs) * c.replay_capacity;
  slot_state = Array<int32_t>(b, slots);
  slot_action = Array<int32_t>(b, slots);
  const std::size_t k = std::size_t(c.runs) * c.replay_batch;
  sample_slot = Array<int32_t>(b, k);
  sample_state = Array<int32_t>(b, k);
  sample_action = Array<int32_t>(b, k);
  abs_td = Array<float>(b, k);
  inserted = Array<int64_t>::from_host(b, std::vector<int64_t>(c.runs, 0));
  max_priority = Array<float>::from_host(b, std::vector<float>(c.runs, 1.0f));
  if (c.prioritized) {
    priority = Array<float>(b, slots);
    cumsum = Array<double>(b, slots);
    if (b == Backend::Cpu) {  // the block sums kept between samples (ReplayArgs::block_sum)
      block_sum = Array<double>(b, std::size_t(c.runs) * kept_blocks(c));
      summed_at = Array<int64_t>::from_host(b, std::vector<int64_t>(c.runs, -1));
    }
  }
}

detail::ReplayArgs ReplayBuffer::args() {
  detail::ReplayArgs rb{};
  rb.runs = static_cast<int32_t>(inserted.size());
  rb.capacity = static_cast<int32_t>(slot_state.size() / inserted.size());
  rb.slot_state = slot_state.data();
  rb.slot_action = slot_action.data();
  rb.priority = or_null(priority);
  rb.cumsum = or_null(cumsum);
  rb.inserted = inserted.data();
  rb.max_priority = max_priority.data();
  rb.block_sum = or_null(block_sum);
  rb.summed_at = or_null(summed_at);
  return rb;
}

void ReplayBuffer::sample(Backend b, const TrainConfig& c, int64_t step) {
  GFNRL_BACKEND_CALL(b, replay_sample, args(), c.seed, static_cast<uint64_t>(step),
                     c.replay_batch, sample_slot.data(), sample_state.data(),
                     sample_action.data());
}

void ReplayBuffer::update_priorities(Backend b, const TrainConfig& c) {
  if (priority.empty()) return;
  GFNRL_BACKEND_CALL(b, replay_update_priorities, args(), c.replay_batch, sample_slot.data(),
                     abs_td.data(), c.priority_exponent,
                     c.priority == ReplayPriority::AbsTd ? detail::kPriorityAbsTd
                     : c.huber                           ? detail::kPriorityHuber
                                                         : detail::kPrioritySquared);
}

}  // namespace gfnrl::training
