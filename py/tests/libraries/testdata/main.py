from greeting import greeting

print(greeting())
