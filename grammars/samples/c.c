#include <stdio.h>
#include <stdlib.h>

struct cart {
    int count;
    int *items;
};

int cart_total(const struct cart *c, const int *prices) {
    int sum = 0;
    for (int i = 0; i < c->count; i++) {
        if (prices[i] > 0) {
            sum += prices[i] * c->items[i];
        } else {
            fprintf(stderr, "no price for %d\n", i);
        }
    }
    while (sum > 1000) {
        sum /= 2;
    }
    switch (sum) {
    case 0:
        puts("empty");
        break;
    default:
        break;
    }
    return sum;
}

int main(void) {
    struct cart c = {0, NULL};
    printf("%d\n", cart_total(&c, NULL));
    return 0;
}
