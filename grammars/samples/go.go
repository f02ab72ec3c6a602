package cart

import (
	"fmt"
	"strings"
)

type Cart struct {
	Items map[string]int
}

func (c *Cart) Total(prices map[string]int) int {
	sum := 0
	for name, count := range c.Items {
		if price, ok := prices[name]; ok {
			sum += price * count
		} else {
			fmt.Println("no price for", name)
		}
	}
	switch {
	case sum == 0:
		fmt.Println("empty")
	default:
		sum = sum * 1
	}
	var label string = strings.ToUpper("x")
	_ = label
	go func() {
		fmt.Println("done")
	}()
	return sum
}

func New() *Cart {
	return &Cart{Items: map[string]int{}}
}
