use std::collections::HashMap;

pub struct Cart {
    items: HashMap<String, u32>,
}

impl Cart {
    pub fn total(&self, prices: &HashMap<String, u32>) -> u32 {
        let mut sum = 0;
        for (name, count) in &self.items {
            if let Some(price) = prices.get(name) {
                sum += price * count;
            } else {
                log::warn!("no price for {name}");
            }
        }
        match sum {
            0 => {
                println!("empty");
            }
            n if n > 1000 => println!("large"),
            _ => {}
        }
        let doubled: Vec<u32> = self.items.values().map(|v| {
            let w = v * 2;
            w + 1
        }).collect();
        unsafe { std::ptr::read(&sum) };
        let _ = async { 1 };
        'outer: loop {
            break 'outer;
        }
        sum + doubled.len() as u32
    }
}

fn main() {
    let cart = Cart { items: HashMap::new() };
    cart.total(&HashMap::new());
}
