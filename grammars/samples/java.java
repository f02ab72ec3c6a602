import java.util.List;
import java.util.Map;

public class Cart {
    private final Map<String, Integer> items;

    public Cart(Map<String, Integer> items) {
        this.items = items;
    }

    public int total(Map<String, Integer> prices) {
        int sum = 0;
        for (Map.Entry<String, Integer> e : items.entrySet()) {
            Integer price = prices.get(e.getKey());
            if (price != null) {
                sum += price * e.getValue();
            } else {
                System.out.println("no price for " + e.getKey());
            }
        }
        List<Integer> doubled = List.of(sum * 2);
        return sum + doubled.size();
    }
}
