#include <map>
#include <string>
#include <vector>

namespace shop {

class Cart {
public:
    int total(const std::map<std::string, int>& prices) const {
        int sum = 0;
        for (const auto& [name, count] : items_) {
            auto it = prices.find(name);
            if (it != prices.end()) {
                sum += it->second * count;
            }
        }
        std::vector<int> doubled;
        doubled.push_back(sum * 2);
        return sum;
    }

private:
    std::map<std::string, int> items_;
};

int helper(int x) {
    auto square = [](int v) { return v * v; };
    return square(x);
}

}  // namespace shop
