// This file contains the per-allocator, per-epoch arrangement of a scrape and
// the changes between two scrapes.
#include "cli/metrics_model.hpp"

#include <algorithm>
#include <cstdlib>

namespace bench {

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The field name of a sample: the metric without `prefix`, then its other labels.
std::string field_name(const Sample& s, std::size_t prefix) {
  std::string name = s.name.substr(prefix);
  std::string extra;
  for (const auto& [key, value] : s.labels) {
    if (key == "allocator" || key == "epoch") continue;
    extra += (extra.empty() ? "{" : ",") + key + "=\"" + value + "\"";
  }
  return extra.empty() ? name : name + extra + "}";
}

bool parse_slot(const std::string& text, unsigned* slot) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  *slot = static_cast<unsigned>(std::strtoul(text.c_str(), nullptr, 10));
  return true;
}

bool uid_less(const AllocatorView& a, const AllocatorView& b) {
  if (a.uid.size() != b.uid.size()) return a.uid.size() < b.uid.size();
  return a.uid < b.uid;
}

}  // namespace

Scrape build_scrape(const Exposition& text, double time_s) {
  Scrape out;
  out.time_s = time_s;
  std::map<std::string, AllocatorView> by_uid;
  for (const Sample& s : text.samples) {
    if (!starts_with(s.name, "tslab_") || s.label("class") != nullptr) continue;
    const std::string* uid = s.label("allocator");
    if (uid == nullptr) {
      out.process[field_name(s, 6)] = s.value;
      continue;
    }
    AllocatorView& a = by_uid[*uid];
    a.uid = *uid;
    if (s.name == "tslab_allocator_info") {
      if (const std::string* name = s.label("name")) a.name = *name;
      continue;
    }
    const std::string* epoch = s.label("epoch");
    unsigned slot = 0;
    if (epoch == nullptr || !parse_slot(*epoch, &slot)) {
      a.fields[field_name(s, 6)] = s.value;
      continue;
    }
    EpochView& e = a.epochs[slot];
    e.slot = slot;
    if (s.name == "tslab_epoch_info") {
      if (const std::string* label = s.label("label")) e.label = *label;
      if (const std::string* state = s.label("state")) e.state = *state;
      continue;
    }
    e.fields[field_name(s, starts_with(s.name, "tslab_epoch_") ? 12 : 6)] = s.value;
  }
  for (auto& [uid, view] : by_uid) out.allocators.push_back(std::move(view));
  std::sort(out.allocators.begin(), out.allocators.end(), uid_less);
  return out;
}

const AllocatorView* find_allocator(const Scrape& scrape, const std::string& uid) {
  for (const AllocatorView& a : scrape.allocators)
    if (a.uid == uid) return &a;
  return nullptr;
}

const double* find_field(const Fields& fields, const std::string& name) {
  const auto it = fields.find(name);
  return it == fields.end() ? nullptr : &it->second;
}

Change change_of(const Scrape* previous, const Scrape& current, const std::string& uid, int epoch,
                 const std::string& field) {
  Change c;
  if (previous == nullptr || current.time_s <= previous->time_s) return c;
  const AllocatorView* before = find_allocator(*previous, uid);
  const AllocatorView* now = find_allocator(current, uid);
  if (before == nullptr || now == nullptr) return c;
  const Fields* f0 = &before->fields;
  const Fields* f1 = &now->fields;
  if (epoch >= 0) {
    const auto e0 = before->epochs.find(static_cast<unsigned>(epoch));
    const auto e1 = now->epochs.find(static_cast<unsigned>(epoch));
    if (e0 == before->epochs.end() || e1 == now->epochs.end()) return c;
    f0 = &e0->second.fields;
    f1 = &e1->second.fields;
  }
  const double* v0 = find_field(*f0, field);
  const double* v1 = find_field(*f1, field);
  if (v0 == nullptr || v1 == nullptr) return c;
  c.delta = *v1 - *v0;
  if (ends_with(field, "_total") && c.delta < 0) return Change{};
  c.per_second = c.delta / (current.time_s - previous->time_s);
  c.known = true;
  return c;
}

}  // namespace bench
