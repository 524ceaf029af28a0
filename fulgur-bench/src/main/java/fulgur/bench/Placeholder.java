package fulgur.bench;
class Placeholder {}
