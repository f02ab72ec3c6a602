local M = {}

function M.total(cart, prices)
  local sum = 0
  for name, count in pairs(cart.items) do
    local price = prices[name]
    if price then
      sum = sum + price * count
    else
      print("no price for " .. name)
    end
  end
  while sum > 1000 do
    sum = sum / 2
  end
  return sum
end

local function helper(x)
  return x * x
end

return M
