// This file contains tslab_containers, the C++ program the preload group's
// cpp-containers workload runs under each allocator (LD_PRELOAD): an ordinary
// program linked against nothing but the C++ standard library, whose every
// allocation is a std::map / std::unordered_map node, a std::string or a
// std::vector buffer. Each round builds an ordered index of string keys, a hash
// table of strings, a text joined from and split back into tokens, and a sorted
// copy of the tokens, then drops half of each and looks the rest up.
//
//   tslab_containers ROUNDS SEED   prints "rounds=N checksum=X" (the same for every allocator)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr std::uint32_t kIndexEntries = 20000;
constexpr std::uint32_t kTableEntries = 40000;
constexpr std::uint32_t kTokens = 30000;

// splitmix64, so the work is the same on every run and allocator.
struct Random {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

// A word of 3..40 letters: short ones fit in the string itself, long ones allocate.
std::string word(Random& r) {
  std::string s(3 + r.below(38), 'a');
  for (char& c : s) c = static_cast<char>('a' + r.below(26));
  return s;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

std::uint64_t ordered_index(Random& r) {
  std::map<std::string, std::vector<std::uint32_t>> index;
  for (std::uint32_t i = 0; i < kIndexEntries; ++i) {
    std::vector<std::uint32_t>& v = index["key-" + word(r)];
    for (std::uint32_t k = 1 + r.below(16); k > 0; --k) v.push_back(i + k);
  }
  std::uint64_t h = index.size();
  for (auto it = index.begin(); it != index.end();) {
    h = mix(h, it->second.size());
    it = (it->second.size() & 1) != 0 ? index.erase(it) : std::next(it);
  }
  for (std::uint32_t i = 0; i < kIndexEntries; ++i) {
    auto it = index.lower_bound("key-" + word(r));
    if (it != index.end()) h = mix(h, it->first.size());
  }
  return h;
}

std::uint64_t hash_table(Random& r) {
  std::unordered_map<std::uint64_t, std::string> table;
  for (std::uint32_t i = 0; i < kTableEntries; ++i) table[r.next() % (4 * kTableEntries)] = word(r) + word(r);
  std::uint64_t h = table.size();
  for (std::uint32_t i = 0; i < kTableEntries; ++i) {
    auto it = table.find(r.next() % (4 * kTableEntries));
    if (it == table.end()) continue;
    h = mix(h, it->second.size());
    if ((i & 1) != 0) table.erase(it);
  }
  for (std::uint32_t i = 0; i < kTableEntries / 2; ++i) table[r.next() % (4 * kTableEntries)] += word(r);
  return mix(h, table.size());
}

std::uint64_t text_tokens(Random& r) {
  std::vector<std::string> tokens;
  for (std::uint32_t i = 0; i < kTokens; ++i) tokens.push_back(word(r));
  std::string text;
  for (const std::string& t : tokens) text += t + ' ';
  std::vector<std::string> split;
  std::string current;
  for (char c : text) {
    if (c != ' ') {
      current += c;
    } else {
      split.push_back(current);
      current.clear();
    }
  }
  std::vector<std::string> sorted = split;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::uint64_t h = mix(text.size(), sorted.size());
  for (std::size_t i = 0; i < split.size(); i += 97)
    h = mix(h, static_cast<std::uint64_t>(std::binary_search(sorted.begin(), sorted.end(), split[i])));
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tslab_containers ROUNDS SEED\n");
    return 2;
  }
  const unsigned long rounds = std::strtoul(argv[1], nullptr, 10);
  Random r{std::strtoull(argv[2], nullptr, 10)};
  std::uint64_t checksum = 0xcbf29ce484222325ull;
  for (unsigned long i = 0; i < rounds; ++i) {
    checksum = mix(checksum, ordered_index(r));
    checksum = mix(checksum, hash_table(r));
    checksum = mix(checksum, text_tokens(r));
  }
  std::printf("rounds=%lu checksum=%016llx\n", rounds, static_cast<unsigned long long>(checksum));
  return 0;
}
